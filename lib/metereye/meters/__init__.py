"""The meter models metereye knows, one namespace for every protocol (docs/decisions.md §17).

A model is a plain tuple row so the table can be frozen into flash:
(name, protocol, module, description). The module holds the model's details
and is imported only when a model of it is used (docs/style.md R13).
"""

MODELS = (
    ("multical21", "kmp", "kamstrup_water", "Kamstrup Multical 21 water meter"),
    ("flowiq2101", "kmp", "kamstrup_water", "Kamstrup flowIQ 2101 water meter"),
    ("flowiq2200", "kmp", "kamstrup_water", "Kamstrup flowIQ 2200 water meter"),
    ("flowiq3100", "kmp", "kamstrup_water", "Kamstrup flowIQ 3100 water meter"),
    ("multical302", "kmp", "kamstrup_heat", "Kamstrup Multical 302 heat meter"),
    ("multical402", "kmp", "kamstrup_heat", "Kamstrup Multical 402 heat meter"),
    ("multical403", "kmp", "kamstrup_heat", "Kamstrup Multical 403 heat meter"),
    ("multical602", "kmp", "kamstrup_heat", "Kamstrup Multical 602 heat meter"),
    ("multical603", "kmp", "kamstrup_heat", "Kamstrup Multical 603 heat meter"),
    ("ultraheat-uh50", "iec-b", "iec_profiles", "Landis+Gyr Ultraheat UH50 heat meter"),
    ("ultraheat-t550", "iec-b", "iec_profiles", "Landis+Gyr Ultraheat T550 heat meter"),
    ("multical66c", "iec-a", "iec_profiles", "Kamstrup Multical 66C heat meter"),
    ("iec-electricity", "iec-c", "iec_profiles", "IEC 62056-21 mode C electricity meter"),
    ("iec-noswitch", "iec-c", "iec_profiles", "IEC 62056-21 mode C meter that offers 9600 Bd but stays at 300"),
    ("iec-push", "iec-d", "iec_profiles", "IEC 62056-21 mode D pushing meter"),
    ("dsmr-p1", "iec-d", "iec_profiles", "DSMR 4/5 P1 smart meter"),
    ("dsmr3-p1", "iec-d", "iec_profiles", "DSMR 2.2/3 P1 smart meter"),
    ("sml-ehz", "sml", "sml_profiles", "SML push meter, German eHZ family (generic)"),
    ("sml-emh", "sml", "sml_profiles", "EMH eHZ SML meter"),
    ("sml-holley", "sml", "sml_profiles", "Holley DTZ541 SML meter, full data set"),
    ("sml-iskra", "sml", "sml_profiles", "ISKRA MT631 SML meter, PIN entered"),
    ("sml-pinlocked", "sml", "sml_profiles", "SML meter without its PIN: energy only"),
    ("sml-7bit", "sml", "sml_profiles", "SML meter read through a 7-data-bit line"),
)


def find(name):
    """The row of model `name`, or None."""
    for row in MODELS:
        if row[0] == name:
            return row
    return None


def details(name):
    """The model module's description of `name` (a Model), or None."""
    row = find(name)
    if row is None:
        return None
    module = __import__("metereye.meters." + row[2], None, None, ("model",))
    return module.model(name)
