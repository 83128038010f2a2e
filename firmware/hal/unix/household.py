# meterkast: a seeded simulated household, the physical world behind the emulated meter
# MIT license
#
# The state at any instant is a pure function of (seed, scenario, local time): no hidden
# stepping state, so a restarted meter sees the same house. Randomness comes from an integer
# hash of (seed, day, item), not from a generator that would have to be replayed.
# Output per phase: active power in mW (+ import, - export), RMS voltage in 0.1 V, power factor
# in thousandths. This is the "world"; the front-ends (direct, waveform, metering IC) measure it.
import math

from util.tz import civil_into, days_from_civil

_DEFAULT = {
    "phases": 3,
    "nominal_dv": 2300,  # 230.0 V
    "base_w": [45, 30, 35],  # always-on load per phase
    "fridge_w": 90,
    "fridge_phase": 0,
    "lights_w": [120, 60, 0],
    "pv_peak_w": 3600,  # single-phase inverter, as most Dutch homes
    "pv_phase": 0,
    "clouds": 0.35,  # 0 clear .. 1 overcast, mean over days
    "grid_ohm_mohm": 350,  # source impedance (mOhm): voltage drop under load
    "voltage_spread_dv": 30,  # slow per-phase voltage wander
    "appliances": [
        # name, phase, watts, minutes, runs/day, earliest hour, latest hour, pf (x1000)
        ["kettle", 1, 2200, 3, 4, 6, 22, 1000],
        ["coffee", 1, 1400, 2, 2, 6, 11, 1000],
        ["cooking", 2, 2800, 35, 1, 17, 19, 1000],
        ["oven", 2, 2200, 45, 1, 17, 20, 1000],
        ["washer", 0, 2000, 20, 1, 8, 21, 900],
        ["dishwasher", 1, 1900, 25, 1, 19, 23, 920],
        ["tv", 0, 110, 180, 1, 19, 21, 950],
        ["vacuum", 2, 900, 20, 1, 9, 18, 880],
    ],
    "flat_w": None,  # fixed load on every phase (tests), overrides the model
}


def _mix(a, b, c):
    """32-bit integer hash of three ints (a variant of the lowbias32 finaliser)."""
    x = (a * 0x9E3779B1 + b * 0x85EBCA77 + c * 0xC2B2AE3D) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    x ^= x >> 16
    return x


class Household:
    def __init__(self, seed=1, params=None):
        p = dict(_DEFAULT)
        if params:
            p.update(params)
        self.p = p
        self.seed = seed
        self.phases = p["phases"]
        self._civil = [0] * 7
        self._day = None
        self._events = []  # (start_s_of_day, end_s_of_day, phase, mW, pf)
        self._cloud = 0.0

    def _plan_day(self, day):
        """Appliance runs of one day, drawn from the seed (the day's 'diary')."""
        events = []
        for idx, a in enumerate(self.p["appliances"]):
            name, phase, watts, minutes, per_day, h0, h1, pf = a
            if phase >= self.phases:
                phase = 0
            runs = per_day
            if per_day == 1 and _mix(self.seed, day, idx * 7 + 1) % 100 < 30:
                runs = 0  # not every appliance runs every day
            for k in range(runs):
                span = max(1, (h1 - h0) * 60 - minutes)
                start = h0 * 3600 + (_mix(self.seed, day, idx * 31 + k) % span) * 60
                events.append((start, start + minutes * 60, phase, watts * 1000, pf))
        self._events = events
        self._cloud = self.p["clouds"] * (0.4 + 1.2 * (_mix(self.seed, day, 999) % 1000) / 1000)
        self._day = day

    def _solar(self, day_of_year, sec_of_day, day):
        """PV output in W: a clear-sky bell between sunrise and sunset, minus passing clouds."""
        peak = self.p["pv_peak_w"]
        if not peak:
            return 0
        # Day length in the Netherlands: ~7.7 h in December, ~16.7 h in June.
        season = math.cos(2 * math.pi * (day_of_year - 172) / 365.25)
        half = (12.2 + 4.5 * season) * 1800
        noon = 13.7 * 3600 if season > -0.2 else 12.7 * 3600  # local solar noon, CEST/CET
        x = (sec_of_day - noon) / half
        if x <= -1 or x >= 1:
            return 0
        elevation = math.cos(x * math.pi / 2)
        clear = peak * (0.45 + 0.55 * (season + 1) / 2) * elevation ** 1.3
        # Clouds: a 10-minute pattern per day, deeper on cloudier days.
        slot = sec_of_day // 600
        shade = (_mix(self.seed, day, 2000 + slot) % 1000) / 1000
        factor = 1.0 - min(0.9, self._cloud * (0.3 + shade))
        return int(clear * factor)

    def sample(self, t_local, out_mw, out_dv, out_pf):
        """Fill per-phase power (mW), voltage (0.1 V) and power factor (x1000) at local time."""
        n = self.phases
        flat = self.p["flat_w"]
        nominal = self.p["nominal_dv"]
        if flat is not None:
            for ph in range(n):
                out_mw[ph] = int(flat * 1000)
                out_dv[ph] = nominal
                out_pf[ph] = 1000
            return
        civil_into(t_local, self._civil)
        c = self._civil
        day = t_local // 86400
        if day != self._day:
            self._plan_day(day)
        sod = t_local - day * 86400
        doy = day - days_from_civil(c[0], 1, 1)
        weekend = c[6] >= 5
        base = self.p["base_w"]
        lights = self.p["lights_w"]
        for ph in range(n):
            w = base[ph] if ph < len(base) else base[0]
            # Lights and standby: evening and early morning.
            if sod >= 17 * 3600 + 1800 or sod < 1800 or 6 * 3600 + 1800 <= sod < 8 * 3600:
                w += lights[ph] if ph < len(lights) else 0
            out_mw[ph] = w * 1000
            out_pf[ph] = 980
        # Fridge: 20 minutes on, 40 off, phase shifted by the seed.
        if (sod + self.seed * 137) % 3600 < 1200:
            out_mw[self.p["fridge_phase"] % n] += self.p["fridge_w"] * 1000
        for start, end, phase, mw, pf in self._events:
            if start <= sod < end:
                if weekend and mw < 1000_000:
                    mw = mw * 5 // 4
                out_mw[phase] += mw
                out_pf[phase] = min(out_pf[phase], pf)
        pv = self._solar(doy, sod, day)
        if pv:
            out_mw[self.p["pv_phase"] % n] -= pv * 1000
        spread = self.p["voltage_spread_dv"]
        z = self.p["grid_ohm_mohm"]
        for ph in range(n):
            wander = (_mix(self.seed, day * 96 + sod // 900, ph) % (2 * spread + 1)) - spread
            # I = P/V; drop = I*Z; in 0.1 V: P[mW] * Z[mOhm] / (V[0.1 V] * 1e4)
            drop = out_mw[ph] * z // (nominal * 10000)
            out_dv[ph] = nominal + wander - drop
