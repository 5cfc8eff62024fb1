//! The deepest stack an aarch64 image's call graph can reach from given entry functions.
//!
//! Each function's frame is what its prologue reserves (pre-indexed `stp`/`str` to SP and
//! `sub sp, sp, #imm`); its callees are its `bl` targets and its tail calls (`b` to another
//! function). The bound is the largest sum of frames along a call path. An indirect call
//! (`blr`) or a recursion on the way has no bound: both are errors, so a change that adds one
//! to the path the bound covers is caught at build time rather than by a stack overflow.

use std::collections::HashMap;

use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

/// One function of the image, decoded.
#[derive(Debug, Default)]
struct Function {
    name: String,
    frame: u64,
    callees: Vec<u64>,
    indirect: bool,
}

/// The deepest path: its total bytes and the functions on it (frame, name), outermost first.
#[derive(Debug)]
pub struct StackBound {
    pub bytes: u64,
    pub path: Vec<(u64, String)>,
}

fn sign_extend(value: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((value << shift) as i64) >> shift
}

/// The stack bytes `word` reserves, if it is a prologue store or `sub sp, sp`.
fn reserved(word: u32) -> u64 {
    const SP: u32 = 31;
    let rn = (word >> 5) & 31;
    if rn != SP {
        return 0;
    }
    // STP (64-bit general registers), pre-index: imm7 scaled by 8.
    if word & 0xFFC0_0000 == 0xA980_0000 {
        return (-sign_extend(u64::from((word >> 15) & 0x7F), 7) * 8).max(0) as u64;
    }
    // STR (64-bit, immediate), pre-index: imm9 unscaled.
    if word & 0xFFE0_0C00 == 0xF800_0C00 {
        return (-sign_extend(u64::from((word >> 12) & 0x1FF), 9)).max(0) as u64;
    }
    // SUB (immediate, 64-bit) with SP as destination and source.
    if word & 0xFF80_0000 == 0xD100_0000 && word & 31 == SP {
        let immediate = u64::from((word >> 10) & 0xFFF);
        return if word & (1 << 22) != 0 { immediate << 12 } else { immediate };
    }
    0
}

/// Decodes every function symbol of `elf`, keyed by address.
fn functions(elf: &object::File<'_>) -> Result<HashMap<u64, Function>, String> {
    let text = elf.section_by_name(".text").ok_or("no .text section")?;
    let (text_start, bytes) =
        (text.address(), text.data().map_err(|error| format!(".text: {error}"))?);
    let mut symbols: Vec<(u64, u64, String)> = elf
        .symbols()
        .filter(|symbol| {
            let address = symbol.address();
            symbol.kind() == SymbolKind::Text
                && (text_start..text_start + bytes.len() as u64).contains(&address)
        })
        .map(|symbol| {
            let name = symbol.name().unwrap_or_default();
            (symbol.address(), symbol.size(), format!("{:#}", rustc_demangle::demangle(name)))
        })
        .collect();
    symbols.sort();
    symbols.dedup_by_key(|symbol| symbol.0);
    // Assembly routines (`global_asm!`) have no size: they run to the next symbol.
    let text_end = text_start + bytes.len() as u64;
    let starts: Vec<u64> = symbols.iter().map(|symbol| symbol.0).collect();
    for (index, symbol) in symbols.iter_mut().enumerate() {
        if symbol.1 == 0 {
            symbol.1 = starts.get(index + 1).copied().unwrap_or(text_end) - symbol.0;
        }
    }
    let mut functions = HashMap::new();
    for (address, size, name) in &symbols {
        let start = usize::try_from(address - text_start).map_err(|_| "address")?;
        let code =
            bytes.get(start..start + *size as usize).ok_or(format!("{name} is outside .text"))?;
        let mut function = Function { name: name.clone(), ..Function::default() };
        for (index, chunk) in code.chunks_exact(4).enumerate() {
            let word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let pc = address + 4 * index as u64;
            function.frame += reserved(word);
            let branch = word & 0x7C00_0000 == 0x1400_0000;
            if branch {
                let target =
                    pc.wrapping_add_signed(sign_extend(u64::from(word & 0x03FF_FFFF), 26) * 4);
                let link = word & (1 << 31) != 0;
                let inside = (*address..address + size).contains(&target);
                // BL (bit 31 set) is a call, to itself too (a recursion); B to another
                // function is a tail call, B within the function a jump.
                if !inside || (link && target == *address) {
                    function.callees.push(target);
                }
            }
            // BLR.
            if word & 0xFFFF_FC1F == 0xD63F_0000 {
                function.indirect = true;
            }
        }
        functions.insert(*address, function);
    }
    Ok(functions)
}

fn deepest(
    functions: &HashMap<u64, Function>,
    address: u64,
    on_path: &mut Vec<u64>,
    known: &mut HashMap<u64, StackBound>,
) -> Result<StackBound, String> {
    let function = functions.get(&address).ok_or(format!("no function at {address:#x}"))?;
    if let Some(bound) = known.get(&address) {
        return Ok(StackBound { bytes: bound.bytes, path: bound.path.clone() });
    }
    if on_path.contains(&address) {
        return Err(format!("{} recurses: its stack has no bound", function.name));
    }
    if function.indirect {
        return Err(format!("{} makes an indirect call: its stack has no bound", function.name));
    }
    on_path.push(address);
    let (frame, callees) = merged(functions, function, &mut Vec::new())?;
    let mut best = StackBound { bytes: 0, path: Vec::new() };
    for callee in callees {
        let bound = deepest(functions, callee, on_path, known)?;
        if bound.bytes > best.bytes {
            best = bound;
        }
    }
    on_path.pop();
    let mut path = vec![(frame, function.name.clone())];
    path.extend(best.path);
    let bound = StackBound { bytes: frame + best.bytes, path };
    known.insert(address, StackBound { bytes: bound.bytes, path: bound.path.clone() });
    Ok(bound)
}

/// Whether `function` is a sequence LLVM's machine outliner moved out of its callers: it runs
/// on its caller's frame (it may even allocate it: a stack probe loop), so it is counted as
/// part of each caller rather than as a call.
fn outlined(function: &Function) -> bool {
    function.name.starts_with("OUTLINED_FUNCTION_")
}

/// `function`'s frame and real callees, with the outlined sequences it calls folded in.
fn merged(
    functions: &HashMap<u64, Function>,
    function: &Function,
    seen: &mut Vec<u64>,
) -> Result<(u64, Vec<u64>), String> {
    let (mut frame, mut callees) = (function.frame, Vec::new());
    for &callee in &function.callees {
        // A branch into the middle of a function (no symbol there) is not a call.
        let Some(target) = functions.get(&callee) else { continue };
        if !outlined(target) {
            callees.push(callee);
            continue;
        }
        if target.indirect {
            return Err(format!("{} makes an indirect call: its stack has no bound", target.name));
        }
        // Once per caller: a sequence called twice runs on the same frame both times.
        if seen.contains(&callee) {
            continue;
        }
        seen.push(callee);
        let (inner_frame, inner_callees) = merged(functions, target, seen)?;
        frame += inner_frame;
        callees.extend(inner_callees);
    }
    Ok((frame, callees))
}

/// The function named `name` (demangled, with its path, or a `#[no_mangle]` name).
fn find(functions: &HashMap<u64, Function>, name: &str) -> Result<u64, String> {
    functions
        .iter()
        .find(|(_, function)| function.name == name)
        .map(|(&address, _)| address)
        .ok_or(format!("no function `{name}`"))
}

/// The deepest stack reachable from the function named `root`.
pub fn bound(elf_bytes: &[u8], root: &str) -> Result<StackBound, String> {
    let elf = object::File::parse(elf_bytes).map_err(|error| format!("not an ELF: {error}"))?;
    let functions = functions(&elf)?;
    let address = find(&functions, root)?;
    deepest(&functions, address, &mut Vec::new(), &mut HashMap::new())
}

/// The frame of the function named `name` alone (with its outlined sequences).
pub fn frame(elf_bytes: &[u8], name: &str) -> Result<u64, String> {
    let elf = object::File::parse(elf_bytes).map_err(|error| format!("not an ELF: {error}"))?;
    let functions = functions(&elf)?;
    let function = functions.get(&find(&functions, name)?).ok_or("no function")?;
    Ok(merged(&functions, function, &mut Vec::new())?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prologues_reserve_what_they_say() {
        // stp x29, x30, [sp, #-96]!
        assert_eq!(reserved(0xA9BA_7BFD), 96);
        // str x30, [sp, #-48]!
        assert_eq!(reserved(0xF81D_0FFE), 48);
        // sub sp, sp, #0xa30
        assert_eq!(reserved(0xD128_C3FF), 0xA30);
        // sub sp, sp, #0x1, lsl #12
        assert_eq!(reserved(0xD140_07FF), 0x1000);
        // stp x20, x19, [sp, #32] (no pre-index), sub x9, sp, #0xc, lsl #12 (not SP)
        assert_eq!(reserved(0xA902_4FF4), 0);
        assert_eq!(reserved(0xD140_33E9), 0);
        // add sp, sp, #0xa30
        assert_eq!(reserved(0x9128_C3FF), 0);
    }

    fn function(name: &str, frame: u64, callees: &[u64]) -> Function {
        Function { name: name.into(), frame, callees: callees.to_vec(), indirect: false }
    }

    #[test]
    fn the_deepest_path_sums_frames_and_folds_outlined_sequences() {
        let mut functions = HashMap::new();
        functions.insert(0x10, function("entry", 16, &[0x20, 0x30]));
        functions.insert(0x20, function("shallow", 100, &[]));
        functions.insert(0x30, function("deep", 48, &[0x40, 0x50]));
        // An outlined sequence allocating its caller's frame, and a real callee.
        functions.insert(0x40, function("OUTLINED_FUNCTION_7", 4096, &[]));
        functions.insert(0x50, function("leaf", 64, &[]));
        let bound = deepest(&functions, 0x10, &mut Vec::new(), &mut HashMap::new()).unwrap();
        assert_eq!(bound.bytes, 16 + 48 + 4096 + 64);
        let names: Vec<&str> = bound.path.iter().map(|(_, name)| name.as_str()).collect();
        assert_eq!(names, ["entry", "deep", "leaf"]);
        assert_eq!(bound.path[1].0, 48 + 4096, "the outlined frame is the caller's");
    }

    #[test]
    fn recursion_and_indirect_calls_have_no_bound() {
        let mut functions = HashMap::new();
        functions.insert(0x10, function("entry", 16, &[0x20]));
        functions.insert(0x20, function("sort", 880, &[0x20]));
        let error = deepest(&functions, 0x10, &mut Vec::new(), &mut HashMap::new()).unwrap_err();
        assert!(error.contains("sort recurses"), "{error}");
        let mut functions = HashMap::new();
        functions.insert(0x10, function("entry", 16, &[0x20]));
        functions.insert(0x20, Function { indirect: true, ..function("format", 64, &[]) });
        let error = deepest(&functions, 0x10, &mut Vec::new(), &mut HashMap::new()).unwrap_err();
        assert!(error.contains("format makes an indirect call"), "{error}");
    }
}
