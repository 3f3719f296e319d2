"""What the pages, the command line and the worker call: import, library, analysis, annotation,
versions, export, users; they take a repository and return plain records."""
