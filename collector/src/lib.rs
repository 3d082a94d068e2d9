//! lookout-collector: discovery, scraping, exposition parsing, relabeling.
