"""The database layer, nothing domain-specific: column types and the metadata's naming
(`types`), engines and their pools (`engines`), the one transaction runner (`transactions`),
statements run on the driver's own connection (`statements`) and their server-side deadlines
(`deadlines`)."""
