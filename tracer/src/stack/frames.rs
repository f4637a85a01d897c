//! Turning what blazesym found at one address into tracer's frames.

use blazesym::symbolize::{CodeInfo, Symbolized};

use super::Frame;

/// The frames for one address, innermost first: the functions inlined at it, then the one
/// they were inlined into. Only `module`, the names, offsets and source locations are filled;
/// `ip`, build id and file offset are the caller's to add.
pub(super) fn from_symbolized(symbolized: &Symbolized<'_>, module: Option<&str>) -> Vec<Frame> {
    let module = module.map(str::to_string);
    let Symbolized::Sym(sym) = symbolized else {
        return vec![Frame {
            module,
            ..Frame::default()
        }];
    };
    // blazesym lists inlined calls outermost first, each with the location inside it that
    // the address is at (the call site of the next one, or the address itself for the last).
    let mut frames: Vec<Frame> = sym
        .inlined
        .iter()
        .rev()
        .map(|inlined| Frame {
            module: module.clone(),
            function: Some(inlined.name.to_string()),
            inlined: true,
            ..located(inlined.code_info.as_ref())
        })
        .collect();
    frames.push(Frame {
        module,
        function: Some(sym.name.to_string()),
        function_offset: u64::try_from(sym.offset).ok(),
        ..located(sym.code_info.as_deref())
    });
    frames
}

fn located(code_info: Option<&CodeInfo<'_>>) -> Frame {
    Frame {
        file: code_info.map(|info| info.to_path().to_string_lossy().into_owned()),
        line: code_info.and_then(|info| info.line),
        ..Frame::default()
    }
}
