/* The module's code is in medsynth_pipeline_torch (linked whole); CMake needs a source here. */
