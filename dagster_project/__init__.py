"""reveil: find sleeping customers, value them, wake them, purge the silent ones."""
