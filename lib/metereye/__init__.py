"""metereye: the portable core (protocol codecs, catalogues, readings). Sans-I/O."""
