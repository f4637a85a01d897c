//! Empty library target: lets `tracer` name this crate as a build dependency, so cargo rebuilds
//! the userspace binary whenever the kernel programs change.
#![no_std]
