# meterkast: which measurement front-end the emulated meter has fitted (--frontend)
# MIT license
#
#   direct    the household's power, held for the second (an ideal sensor)
#   waveform  supplier A: emulated ADC samples (hal.unix.waveform_source) through the window DSP
#             (metering.adc_frontend); every sample at speed <= 1, one representative
#             window per meter second above that
#   ic        supplier B: three emulated ADE7953 chips on an emulated SPI bus
#             (hal.unix.metering_ic) read by metering.ic_frontend
# All three measure the same world, so their registers agree to their accuracy.
KINDS = ("direct", "waveform", "ic")
FS = 6400  # ADC samples per second per channel: 128 per cycle at 50 Hz (see metering/README.md)


def build_frontend(kind, household, clock, seed=1, full_rate=None):
    if kind == "direct":
        from hal.unix.frontend_direct import DirectFrontend

        return DirectFrontend(household, clock)
    from hal.unix.signals import HouseholdWorld, Mains

    mains = Mains(HouseholdWorld(household, clock), household.phases)
    if full_rate is None:
        full_rate = clock.speed <= 1
    return build_measuring(kind, mains, household.p["nominal_dv"], seed, full_rate)


def build_measuring(kind, mains, un_dv=2300, seed=1, full_rate=True, ib_ma=5000, sensors=None,
                    impl=None, read_with_reset=True, calibration=None):
    """A waveform or ic front-end measuring `mains` (a hal.unix.signals.Mains), with the
    calibration a production line found by measurement (hal.unix.factory) loaded, or the
    given `calibration` ("model": the exact inverse of the sensor model)."""
    from hal.unix.signals import default_sensors

    if sensors is None:
        sensors = default_sensors(FS)
    if calibration is None and kind in KINDS[1:]:
        from hal.unix.factory import calibrate

        calibration = calibrate(kind, sensors, mains.phases, seed, un_dv, ib_ma)
    if kind == "waveform":
        from hal.unix.waveform_source import WaveformSource
        from metering.adc_frontend import AdcFrontend

        src = WaveformSource(mains, sensors, FS, seed=seed)
        if calibration == "model":
            calibration = src.factory_calibration()
        return AdcFrontend(src, calibration, full_rate, ib_ma, un_dv, impl=impl)
    if kind == "ic":
        from hal.unix.metering_ic import ChipSet
        from metering.ade7953 import Ade7953
        from metering.ic_frontend import IcFrontend

        chipset = ChipSet(mains, sensors, seed)
        chips = [Ade7953(chipset.bus, pin) for pin in chipset.pins]
        if calibration == "model":
            calibration = chipset.factory_calibration()
        fe = IcFrontend(chips, calibration, ib_ma=ib_ma, un_dv=un_dv,
                        read_with_reset=read_with_reset, advance=chipset.run_until)
        fe.chipset = chipset
        return fe
    raise ValueError("unknown front-end %r (one of %s)" % (kind, ", ".join(KINDS)))
