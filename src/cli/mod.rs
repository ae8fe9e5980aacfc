pub mod backfill;
pub mod decode;
pub mod demo;
pub mod signals;
