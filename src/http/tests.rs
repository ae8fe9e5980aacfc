//! The router in-process (the real-server tests are in `tests/http_api.rs`).
