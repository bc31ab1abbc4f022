"""The reader application: composes the parts and runs one asyncio task per
concern (each meter, each target the readings go to, the watchdog, the page).

This is where the parts meet, and the only module that knows them all: no
part imports it (what every part may ask of the reader itself is in
runtime.py), so imports run one way (docs/design.md).
"""

import gc
import sys

import asyncio
import hw
import log
import runtime

WATCHDOG_MS = 60000


class App:
    def __init__(self, cfg):
        self.cfg = cfg
        self.boot = runtime.start()
        self.reader_id = cfg["reader_id"] or "metereye-" + hw.unique_id()
        self.address = None
        self.readers = []
        self.latest = {}            # meter_id -> (MeterReader, Reading): for discovery and the page
        self.store = None
        self.outbox = None
        self.mqtt = None            # the MQTT target, when a broker is configured
        self.http = None            # the HTTP push target, when a URL is configured
        self.healthy = False
        self.heap_peak = 0
        self.history = None         # recent readings for the page's chart and /api/history
        self.web = None
        self.update = None          # the last update's outcome (update.json): MQTT and the page report it
        self._stop = asyncio.Event()
        self.restart_wanted = False

    # --- readings -----------------------------------------------------------
    def on_reading(self, reader, reading):
        if hw.clock_set():
            reading.t = hw.unix_time()
        else:
            # Stamped when it goes out, if the clock is known by then (outbox.py).
            reading.up = runtime.uptime_s()
            reading.boot = runtime.boot
        kept = self.floors.check(reader, reading)
        if not kept.values:
            log.warn(reader.meter_id, "every counter went backwards: reading not published")
            return
        self.outbox.add(kept)
        if self.history is not None:
            self.history.add(kept)
        self.latest[reader.meter_id] = (reader, kept)

    def on_session(self, reader):
        if self.mqtt is not None:
            self.mqtt.wake(diagnostics=True)

    def reader_of(self, meter_id):
        """The MeterReader whose meter has this id now, or None."""
        for r in self.readers:
            if r.meter_id == meter_id:
                return r
        return None

    def target_reached(self):
        """True when some target is connected (an update on trial counts it as health)."""
        return any(link.connected for link in self.outbox.links.values()) if self.outbox else False

    def report_update(self):
        """The update's outcome changed: MQTT's retained copy follows (sent on connect otherwise)."""
        if self.mqtt is not None and self.mqtt.link.connected:
            asyncio.create_task(self._report_update())

    async def _report_update(self):
        from outbox import Down
        try:
            await self.mqtt.report_update()
        except Down:
            pass                    # sent again on the next connect

    def restart(self):
        """Apply a new configuration without a reflash or a reboot: stop every
        task, close the lines, and let main() build the app again from config.json."""
        self.restart_wanted = True
        self._stop.set()

    def close(self):
        for r in self.readers:
            r.close()
        for target in (self.mqtt, self.http):
            if target is not None:
                target.close()
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
        from outbox import Outbox
        from floors import Floors
        cfg = self.cfg
        log.info("app", "metereye", runtime.VERSION, "reader", self.reader_id, "on", hw.PLATFORM)
        log.info("app", "meters", ", ".join(m["model"] for m in cfg["meters"]),
                 "broker", cfg["mqtt"]["host"] or "(none)", "push", cfg["http"]["url"] and cfg["http"]["format"] or "(none)")
        asyncio.create_task(self.watchdog())
        import codesets
        self.update = codesets.status()
        if codesets.on_trial():          # an update on trial: kept only if it proves healthy in time
            from updater import watch_trial
            asyncio.create_task(watch_trial(self))
        else:
            runtime.forget("codesets")   # needed again only to stage an update or after a crash
        if cfg["wifi"]["ssid"] or hw.PLATFORM == "unix":
            self.address = await hw.wifi_connect(cfg["wifi"], log)
        if self.address and not hw.clock_set():
            await hw.sync_clock(log)
        targets = []
        if cfg["mqtt"]["host"]:
            targets.append("mqtt")
        if cfg["http"]["url"]:
            targets.append("http")
        self.store = Store(cfg["store"]["max_readings"], targets=targets)
        self.outbox = Outbox(self.store)
        self.floors = Floors()
        if self.store.pending:
            log.info("app", self.store.pending, "readings still queued from before")
        for i, spec in enumerate(cfg["meters"]):
            try:
                reader = MeterReader(spec, i, runtime.clock, self.on_reading, self.on_session)
            except ImportError as e:
                # A protocol in the table whose reading module this firmware lacks:
                # that meter is not read, the others are.
                log.error("app", "meter", i, spec["model"], "cannot be read by this firmware "
                          "(protocol %s):" % spec["protocol"], repr(e))
                continue
            self.readers.append(reader)
            asyncio.create_task(reader.run())
        runtime.forget("metereye.protocols")     # each reader keeps its own row
        if cfg["mqtt"]["host"]:
            from mqtt import Mqtt
            self.mqtt = Mqtt(self, self.outbox)
            asyncio.create_task(self.outbox.run(self.mqtt))
        if cfg["http"]["url"]:
            from http_push import HttpPush
            self.http = HttpPush(self, self.outbox)
            asyncio.create_task(self.outbox.run(self.http))
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
        if self.mqtt is not None:
            await self.mqtt.leave()         # cleanly: a settings change is no outage
        if self.web is not None:
            # Closed while the loop still runs: after run() returns, the server's
            # task never runs again and its socket would keep the port taken.
            await self.web.stop()


def main():
    if hw.button_held():
        print("metereye: safe boot (button held): not starting; the REPL is yours")
        return
    runtime.start()
    # boot.py's set chooser is done: the sets read its choice from flash (codesets.py).
    runtime.forget("startup")
    while True:
        import settings
        cfg = settings.load()
        del settings
        runtime.forget(*runtime.BOOT_ONLY)
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
            import codesets
            codesets.crashed(repr(e))   # an update on trial: the reason its roll-back reports
            hw.reset(repr(e))
        app.close()
        if not app.restart_wanted:
            return
        log.info("app", "configuration changed: starting again")
        asyncio.new_event_loop()
        gc.collect()
