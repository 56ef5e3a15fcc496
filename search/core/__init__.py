"""What every part of hpsearch shares: a study's spec, its storage, its trial counts and ranking."""
