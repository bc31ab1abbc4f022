"""Run one test module's test_* functions under unix MicroPython.

usage: micropython tests/mp_run.py MODULE   (with MICROPYPATH=.frozen:lib:tests/lib)
Prints each failure and a closing line "N passed, N failed".
"""

import sys


def main():
    name = sys.argv[1]
    module = __import__(name)
    passed = failed = 0
    for attr in sorted(dir(module)):
        if not attr.startswith("test_"):
            continue
        fn = getattr(module, attr)
        try:
            fn()
            passed += 1
        except Exception as e:  # report every failure, keep going
            failed += 1
            print("FAIL", name + "." + attr)
            sys.print_exception(e)
    print("%s: %d passed, %d failed" % (name, passed, failed))
    sys.exit(1 if failed or not passed else 0)


main()
