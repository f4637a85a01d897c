//! Reading what the kernel programs wrote: the event ring buffer and the lost-event counter.

pub mod lost;
pub mod reader;

pub use lost::LostCounter;
pub use reader::EventReader;
