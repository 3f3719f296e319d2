"""The chunk emotion model: network, chunk inputs, segment pooling; the shipped default weights."""
