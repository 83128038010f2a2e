"""Emulated serial lines between the firmware and the outside: the paced line that carries
bytes at the UART's rate with 8N1/7E1 framing (`paced`), the endpoints a port can be given
(pty, TCP, file, null: `endpoints`), injected line faults (bit errors, drops, inserts, bursts,
breaks: `faults`) and the capture/replay format of everything that crossed a line (`capture`)."""
