import startup; startup.boot()
