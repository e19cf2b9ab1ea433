// Sets the process's compute threads once, at start-up. LibTorch 1.13 uses half the cores by
// default, and changing the count later in a process slows it down, so the host calls this
// once before any plugin is created. 0 = all cores.
#pragma once

namespace difss {

// Returns the count in effect. Later calls with a different count are ignored (logged).
int configure_threads(int requested);
int configured_threads();

}  // namespace difss
