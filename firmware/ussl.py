from ssl import *  # noqa: F403 - umqtt.simple 1.3.4 does `import ussl`, gone since MicroPython 1.23: give it `ssl`
