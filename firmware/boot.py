import gc; gc.collect()
