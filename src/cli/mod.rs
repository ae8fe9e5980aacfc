pub mod decode;
pub mod demo;
