"""Sub-commands of the `recplug` console command, one module per group."""
