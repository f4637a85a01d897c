//! Names of the errors a refused call returns.

/// The name of `errno` in Linux's generic table (`EPERM`, `EACCES`), which x86, arm64, riscv
/// and loongarch share; `None` for 0 and for numbers the table lacks.
pub fn name(errno: i32) -> Option<&'static str> {
    syscalls::Errno::new(errno).name()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_generic_numbers() {
        assert_eq!(name(1), Some("EPERM"));
        assert_eq!(name(13), Some("EACCES"));
        assert_eq!(name(38), Some("ENOSYS"));
        assert_eq!(name(95), Some("EOPNOTSUPP"));
        assert_eq!(name(133), Some("EHWPOISON"));
        for errno in [0, -1, 41, 4095, i32::MAX] {
            assert_eq!(name(errno), None, "{errno}");
        }
    }

    #[test]
    fn names_every_number_up_to_the_last_generic_one() {
        // 41 and 58 are unused; EWOULDBLOCK and EDEADLOCK are aliases of 11 and 35.
        let unnamed: Vec<_> = (1..=133).filter(|&errno| name(errno).is_none()).collect();
        assert_eq!(unnamed, [41, 58]);
    }
}
