pub mod addon;
pub mod decode;
pub mod demo;
pub mod signals;
