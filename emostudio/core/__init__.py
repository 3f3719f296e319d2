"""The ground floor: records, label space, time grid, settings, errors, safe paths and files."""
