"""The `meterkast` subcommands, one thin module each (`HELP`, `add_arguments(parser)`,
`main(args) -> int`): they parse options, call the package that does the job (emu, line, wire,
dlms, image, console, bench, soak, keys) and turn its results into output and an exit code.
Nothing below this package imports it."""
