//! The frame a frame-pointer walk skips: the caller of the innermost function when that
//! function keeps no frame of its own, as libc's `syscall()` wrapper and most hand-written
//! system call stubs do. The walk starts from the frame pointer the caller left, so it goes
//! from the wrapper straight to the caller's caller, and the function that made the call, the
//! one a user is looking for, is missing.
//!
//! The kernel program sends the words at the stack top. The innermost function's call frame
//! information (`.eh_frame`, which even stripped distribution binaries keep for exceptions)
//! says whether its return address lies there, and in which word.

use gimli::{
    BaseAddresses, CfaRule, EhFrame, NativeEndian, RegisterRule, UnwindContext, UnwindSection as _,
};
use std::ops::Range;

use object::{Object as _, ObjectSection as _, ObjectSegment as _, SegmentFlags};

/// Where the return address of the function at `file_offset` is, in words above the stack
/// pointer, at that instruction: `Some` only where the function's frame is found from the
/// stack pointer (no frame pointer of its own), which is when the walk skipped its caller.
pub fn return_address_word(elf: &[u8], file_offset: u64) -> Option<usize> {
    let file = object::File::parse(elf).ok()?;
    let address = file_address(&file, file_offset)?;
    let (stack_pointer, return_address) = registers(file.architecture())?;
    let section = file.section_by_name(".eh_frame")?;
    let eh_frame = EhFrame::new(section.data().ok()?, NativeEndian);
    let bases = BaseAddresses::default().set_eh_frame(section.address());
    let mut context = Box::new(UnwindContext::new());
    let row = eh_frame
        .unwind_info_for_address(&bases, &mut context, address, EhFrame::cie_from_offset)
        .ok()?;
    let CfaRule::RegisterAndOffset { register, offset } = *row.cfa() else {
        return None;
    };
    if register != stack_pointer {
        return None;
    }
    let Some(RegisterRule::Offset(from_cfa)) = row.register(return_address) else {
        return None;
    };
    let bytes = offset.checked_add(from_cfa)?;
    (bytes >= 0 && bytes % 8 == 0).then_some((bytes / 8) as usize)
}

/// The file ranges of the ELF file's executable segments: where a return address must point.
pub fn code_ranges(elf: &[u8]) -> Vec<Range<u64>> {
    let Ok(file) = object::File::parse(elf) else {
        return Vec::new();
    };
    file.segments()
        .filter(|segment| match segment.flags() {
            SegmentFlags::Elf { p_flags } => p_flags & object::elf::PF_X != 0,
            _ => false,
        })
        .map(|segment| {
            let (start, size) = segment.file_range();
            start..start + size
        })
        .collect()
}

/// The address the file's code at `file_offset` is linked at, as its call frame information
/// names it.
fn file_address(file: &object::File<'_>, file_offset: u64) -> Option<u64> {
    file.segments().find_map(|segment| {
        let (start, size) = segment.file_range();
        (start..start + size)
            .contains(&file_offset)
            .then(|| segment.address() + (file_offset - start))
    })
}

/// The stack pointer and return address registers of architectures whose callers push the
/// return address: only there does a frameless function have it on the stack top (on arm64
/// it stays in the link register, which the kernel program does not send).
fn registers(architecture: object::Architecture) -> Option<(gimli::Register, gimli::Register)> {
    match architecture {
        object::Architecture::X86_64 => Some((gimli::X86_64::RSP, gimli::X86_64::RA)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::ObjectSymbol as _;

    /// This process's C library, and the file offset of its symbol `name`.
    fn libc_symbol(name: &str) -> (Vec<u8>, u64) {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let path = maps
            .lines()
            .filter_map(|line| line.split_whitespace().nth(5))
            .find(|path| path.ends_with("/libc.so.6"))
            .expect("the tests link the C library")
            .to_owned();
        let bytes = std::fs::read(path).unwrap();
        let file = object::File::parse(&*bytes).unwrap();
        let address = file
            .dynamic_symbols()
            .find(|s| s.name() == Ok(name))
            .unwrap_or_else(|| panic!("libc exports {name}"))
            .address();
        let offset = file
            .segments()
            .find_map(|segment| {
                let start = segment.address();
                (start..start + segment.size())
                    .contains(&address)
                    .then(|| address - start + segment.file_range().0)
            })
            .unwrap();
        (bytes, offset)
    }

    #[test]
    fn the_syscall_wrapper_leaves_its_return_address_on_the_stack_top() {
        let (libc, syscall) = libc_symbol("syscall");
        // Its `syscall` instruction comes after a few moves, and nothing has been pushed.
        assert_eq!(return_address_word(&libc, syscall), Some(0));
        assert_eq!(return_address_word(&libc, syscall + 0x17), Some(0));
        assert!(code_ranges(&libc).iter().any(|r| r.contains(&syscall)));
    }

    #[test]
    fn nothing_is_claimed_outside_code_or_for_other_files() {
        let (libc, _) = libc_symbol("syscall");
        assert_eq!(return_address_word(&libc, 0), None);
        assert!(!code_ranges(&libc).iter().any(|r| r.contains(&0)));
        assert_eq!(return_address_word(b"not an ELF file", 0x10), None);
        assert!(code_ranges(b"not an ELF file").is_empty());
        assert_eq!(return_address_word(&libc[..4096], 0x1000), None);
    }
}
