//! Adapter selection and enumeration.

mod common;

use coevm_kernels::gpu::{self, GpuBackend, GpuOptions, Int64Mode};
use coevm_kernels::{Backend, BackendError, BackendKind};

#[test]
fn unmatched_adapter_name_is_no_adapter() {
    let options = GpuOptions { adapter_name: Some("no-such-adapter-\u{1F980}".into()), ..GpuOptions::default() };
    match GpuBackend::with_options(&options) {
        Err(e @ BackendError::NoAdapter(_)) => {
            assert!(e.to_string().contains("no-such-adapter"), "{e}");
            assert!(e.is_recoverable_on_cpu());
        }
        Err(other) => panic!("expected NoAdapter, got {other}"),
        Ok(b) => panic!("selected {} for a name nothing has", b.describe()),
    }
}

#[test]
fn enumeration_marks_the_selected_adapter() {
    let options = GpuOptions::default();
    let adapters = gpu::enumerate_adapters_with(&options);
    let Some(g) = common::gpu_auto() else {
        return;
    };
    assert!(!adapters.is_empty());
    for a in &adapters {
        eprintln!("{a}");
        assert!(a.max_storage_buffer_binding_size > 0 && a.max_buffer_size > 0);
        assert!(a.max_compute_workgroups_per_dimension > 0);
    }
    // The shared backend uses from_env(); the default options select the same way when the
    // WGPU_* variables are unset.
    if std::env::var_os("WGPU_ADAPTER_NAME").is_none() && std::env::var_os("WGPU_BACKEND").is_none() {
        let selected: Vec<_> = adapters.iter().filter(|a| a.auto_selected).collect();
        assert_eq!(selected.len(), 1, "{adapters:?}");
        assert_eq!(selected[0].name, g.adapter_info().name);
        assert_eq!(selected[0].has_int64, g.uses_int64());
    }
    // Selecting by (part of) the name finds that adapter.
    let name = &adapters[0].name;
    let by_name =
        GpuBackend::with_options(&GpuOptions { adapter_name: Some(name.to_uppercase()), ..GpuOptions::default() })
            .unwrap();
    assert_eq!(&by_name.adapter_info().name, name);
    assert_eq!(by_name.kind(), BackendKind::Gpu);
    assert!(by_name.describe().contains(name.as_str()));
}

#[test]
fn int64_mode_is_honoured() {
    let Some(auto) = common::gpu_auto() else {
        return;
    };
    let u32_path = common::gpu_u32().unwrap();
    assert!(!u32_path.uses_int64());
    assert!(u32_path.describe().contains("u32 path"));
    let has_int64 = auto.uses_int64();
    match GpuBackend::with_options(&GpuOptions::from_env().with_int64(Int64Mode::Enabled)) {
        Ok(b) => assert!(has_int64 && b.uses_int64()),
        Err(e) => assert!(!has_int64 && matches!(e, BackendError::DeviceCreation { .. }), "{e}"),
    }
    assert_eq!(Int64Mode::parse("OFF"), Some(Int64Mode::Disabled));
    assert_eq!(Int64Mode::parse("auto"), Some(Int64Mode::Auto));
    assert_eq!(Int64Mode::parse("1"), Some(Int64Mode::Enabled));
    assert_eq!(Int64Mode::parse("maybe"), None);
}
