"""Results people can read: learning-curve and decision-boundary plots, error analysis and diagnosis, tables."""
