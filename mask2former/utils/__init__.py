"""Helpers of the entry points and tools: the allocator setting (:mod:`.allocator`) and model
analysis with fvcore (:mod:`.analysis`)."""
