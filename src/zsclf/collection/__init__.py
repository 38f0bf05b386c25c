"""Photo collections: the vectors of many photos in one SQLite file, kept up to date, searched by text
or by example (`zsclf photos`, `zsclf search`, `Collection`)."""
