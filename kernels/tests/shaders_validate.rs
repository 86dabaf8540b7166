//! Every WGSL module, exactly as assembled at runtime (both the 64-bit-integer and the 32-bit
//! path), must parse and validate with naga, without any device.

use coevm_kernels::gpu::shaders::Kernel;
use naga::valid::{Capabilities, ValidationFlags, Validator};

fn validate(kernel: Kernel, int64: bool) -> Result<naga::Module, String> {
    let source = kernel.source(int64);
    let module =
        naga::front::wgsl::parse_str(&source).map_err(|e| e.emit_to_string_with_path(&source, kernel.name()))?;
    let caps = if int64 { Capabilities::SHADER_INT64 } else { Capabilities::empty() };
    Validator::new(ValidationFlags::all(), caps)
        .validate(&module)
        .map_err(|e| e.emit_to_string_with_path(&source, kernel.name()))?;
    Ok(module)
}

#[test]
fn every_kernel_validates_on_both_paths() {
    for kernel in Kernel::ALL {
        for int64 in [true, false] {
            let module =
                validate(kernel, int64).unwrap_or_else(|e| panic!("{} (int64 = {int64}):\n{e}", kernel.name()));
            let entry = module
                .entry_points
                .iter()
                .find(|e| e.name == kernel.entry_point())
                .unwrap_or_else(|| panic!("{}: no entry point {}", kernel.name(), kernel.entry_point()));
            assert_eq!(entry.stage, naga::ShaderStage::Compute);
            assert_eq!(entry.workgroup_size, [Kernel::WORKGROUP_SIZE, 1, 1]);
            // The bindings match the explicit layout the backend creates: group 0, bindings
            // 0..n, read-only storage inputs, then one read-write output.
            let mut bindings: Vec<(u32, naga::StorageAccess)> = module
                .global_variables
                .iter()
                .filter_map(|(_, g)| match (&g.binding, g.space) {
                    (Some(b), naga::AddressSpace::Storage { access }) => {
                        assert_eq!(b.group, 0);
                        Some((b.binding, access))
                    }
                    (Some(_), space) => panic!("{}: unexpected binding in {space:?}", kernel.name()),
                    _ => None,
                })
                .collect();
            bindings.sort_by_key(|b| b.0);
            let n = kernel.bindings();
            assert_eq!(
                bindings.iter().map(|b| b.0).collect::<Vec<_>>(),
                (0..n).collect::<Vec<_>>(),
                "{}",
                kernel.name()
            );
            for (binding, access) in bindings {
                let writable = access.contains(naga::StorageAccess::STORE);
                assert_eq!(writable, binding == n - 1, "{} binding {binding}", kernel.name());
            }
        }
    }
}

/// The u32 path really is free of 64-bit integers: it must validate without SHADER_INT64,
/// and the int64 path must need it (so the two paths are really different code).
#[test]
fn u32_path_needs_no_int64_and_int64_path_does() {
    for kernel in [Kernel::Keccak256, Kernel::Alu] {
        let source = kernel.source(true);
        let module = naga::front::wgsl::parse_str(&source).unwrap();
        let err = Validator::new(ValidationFlags::all(), Capabilities::empty()).validate(&module);
        assert!(err.is_err(), "{} int64 source validated without SHADER_INT64", kernel.name());
        assert!(!kernel.source(false).contains("u64"), "{} u32 path mentions u64", kernel.name());
    }
}
