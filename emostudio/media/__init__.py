"""Reading media and what comes with them: decoding, transcripts, label files, voice activity."""
