"""Container readers (ZIP, ...) that read archives the way the real ML loaders do."""
