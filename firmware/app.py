"""The reader application: wires the parts together and runs one asyncio task
per concern (each meter, the MQTT supervisor, the watchdog). Parts do not
import each other sideways; this module is where they meet (docs/design.md)."""

import gc
import sys
import time

import asyncio
import hw
import log

VERSION = "0.1.0"
WATCHDOG_MS = 60000
BOOTS = "boots"


def _count_boot():
    try:
        with open(BOOTS) as f:
            n = int(f.read() or 0) + 1
    except (OSError, ValueError):
        n = 1
    with open(BOOTS, "w") as f:
        f.write(str(n))
    return n


class App:
    def __init__(self, cfg):
        self.cfg = cfg
        self.boot = _count_boot()
        self.started_ms = time.ticks_ms()
        self.reader_id = cfg["reader_id"] or "metereye-" + hw.unique_id()
        self.address = None
        self.readers = []
        self.latest = {}            # meter_id -> (MeterReader, Reading): for discovery and the page
        self.store = None
        self.publisher = None
        self.healthy = False
        self.heap_peak = 0
        self.history = None         # recent readings for the page's chart and /api/history
        self.web = None
        self.update = None          # the last update's outcome (update.json): MQTT and the page report it
        self._stop = asyncio.Event()
        self.restart_wanted = False

    def uptime_s(self):
        return time.ticks_diff(time.ticks_ms(), self.started_ms) // 1000

    def clock(self):
        """Unix seconds once the clock is set; seconds since boot before."""
        return hw.unix_time() if hw.clock_set() else self.uptime_s()

    # --- readings -----------------------------------------------------------
    def on_reading(self, reader, reading):
        if hw.clock_set():
            reading.t = hw.unix_time()
        else:
            # Stamped when it is published, if the clock is known by then.
            reading.up = self.uptime_s()
            reading.boot = self.boot
        kept = self.guard.check(reader, reading)
        if not kept.values:
            log.warn(reader.meter_id, "every counter went backwards: reading not published")
            return
        self.store.append(kept)
        if self.history is not None:
            self.history.add(kept)
        self.latest[reader.meter_id] = (reader, kept)
        if self.publisher is not None:
            self.publisher.wake()

    def on_session(self, reader):
        if self.publisher is not None:
            self.publisher.wake(diagnostics=True)

    def restart(self):
        """Apply a new configuration without a reflash or a reboot: stop every
        task, close the lines, and let main() build the app again from config.json."""
        self.restart_wanted = True
        self._stop.set()

    def close(self):
        for r in self.readers:
            r.close()
        if self.publisher is not None:
            self.publisher.close()
        if self.web is not None:
            self.web.shutdown()

    # --- tasks --------------------------------------------------------------
    async def watchdog(self):
        wdt = hw.Watchdog(WATCHDOG_MS)
        while True:
            wdt.feed()
            await asyncio.sleep_ms(5000)

    async def run(self):
        from reader import MeterReader
        from store import Store
        from guard_state import CounterGuardState
        cfg = self.cfg
        log.info("app", "metereye", VERSION, "reader", self.reader_id, "on", hw.PLATFORM)
        log.info("app", "meters", ", ".join(m["model"] for m in cfg["meters"]),
                 "broker", cfg["mqtt"]["host"] or "(none)")
        asyncio.create_task(self.watchdog())
        import startup
        self.update = startup.status()
        if startup.on_trial():           # an update on trial: kept only if it proves healthy in time
            from updater import watch_trial
            asyncio.create_task(watch_trial(self))
        if cfg["wifi"]["ssid"] or hw.PLATFORM == "unix":
            self.address = await hw.wifi_connect(cfg["wifi"], log)
        if self.address and not hw.clock_set():
            await hw.sync_clock(log)
        self.store = Store(cfg["store"]["max_readings"])
        self.guard = CounterGuardState()
        if self.store.pending:
            log.info("app", self.store.pending, "readings still queued from before")
        for i, spec in enumerate(cfg["meters"]):
            reader = MeterReader(spec, i, self.clock, self.on_reading, self.on_session)
            self.readers.append(reader)
            asyncio.create_task(reader.run())
        if cfg["mqtt"]["host"]:
            from mqtt import Publisher
            self.publisher = Publisher(self)
            asyncio.create_task(self.publisher.run())
        if cfg["web"]["enabled"]:
            from web import start_web      # the page, the JSON API, the settings form
            self.web = start_web(self)
        gc.collect()
        self.healthy = True
        ticks = 0
        while not self._stop.is_set():
            await asyncio.sleep_ms(1000)
            ticks += 1
            if ticks % 10 == 0:
                # A quiet point: collect, and keep the largest live heap seen.
                gc.collect()
                self.heap_peak = max(self.heap_peak, gc.mem_alloc())
            if ticks % 300 == 0:
                if hw.PLATFORM != "unix" and not hw.clock_set() and self.address:
                    await hw.sync_clock(log)
                log.info("app", "heap", gc.mem_alloc(), "free", gc.mem_free(), "live peak", self.heap_peak)
        if self.web is not None:
            # Closed while the loop still runs: after run() returns, the server's
            # task never runs again and its socket would keep the port taken.
            await self.web.stop()


def _forget(*names):
    """Drop modules needed only at boot, so their code leaves the heap (R13)."""
    for name in names:
        sys.modules.pop(name, None)
        parent, _, child = name.rpartition(".")
        if parent in sys.modules:      # the package holds its submodules as attributes
            try:
                delattr(sys.modules[parent], child)
            except (AttributeError, KeyError):   # MicroPython raises KeyError here
                pass
    gc.collect()


def main():
    if hw.button_held():
        print("metereye: safe boot (button held): not starting; the REPL is yours")
        return
    while True:
        import settings
        cfg = settings.load()
        del settings
        _forget("settings", "metereye.config")
        if cfg is None:
            try:
                import portal              # first boot: the reader's own access point
            except ImportError:
                print("metereye: no configuration (config.json)")
                return
            portal.run()
            continue
        app = App(cfg)
        try:
            asyncio.run(app.run())
        except KeyboardInterrupt:
            gc.collect()
            print("metereye: stopped; heap peak", app.heap_peak, "live now", gc.mem_alloc())
            return
        except Exception as e:          # a crash restarts rather than hangs
            sys.print_exception(e)
            import startup
            startup.crashed(repr(e))    # an update on trial: the reason its roll-back reports
            hw.reset(repr(e))
        app.close()
        if not app.restart_wanted:
            return
        log.info("app", "configuration changed: starting again")
        asyncio.new_event_loop()
        gc.collect()
