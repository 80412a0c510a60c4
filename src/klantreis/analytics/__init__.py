"""Analytics: pure functions over Ibis tables, so the same code runs on DuckDB and Spark."""
