"""The process and its folders: locks, signals, devices, console noise, markdown text."""
