//! The GPU: adapter, device and queue, opened the same way natively and in the browser.

use std::sync::Arc;

use crate::error::{GpuError, Result};

/// What the adapter is and what it allows, for display and for the engine's choices.
#[derive(Debug, Clone)]
pub struct AdapterSummary {
    pub name: String,
    pub vendor: String,
    pub architecture: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    /// Whether the adapter offers `shader-f16` (requested when offered, never required).
    pub shader_f16: bool,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_compute_workgroup_storage_size: u32,
    pub max_compute_workgroups_per_dimension: u32,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, {}, shader-f16 {})",
            self.name,
            self.backend,
            self.device_type,
            if self.shader_f16 { "yes" } else { "no" }
        )
    }
}

/// An open device. Cheap to clone (shared by the engine's parts).
#[derive(Clone)]
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: AdapterSummary,
    pub limits: wgpu::Limits,
    pub device_type: wgpu::DeviceType,
    /// Subgroup operations with subgroups of at least 8 invocations (natively, where the
    /// adapter has them; `XLINGO_SUBGROUPS=0` turns them off). The CPU matmul kernels use
    /// them to load activations (shaders/activations/subgroup.wgsl).
    pub subgroups: bool,
    /// shader-f16 (where the adapter has it; `XLINGO_SHADER_F16=0` turns it off): the f16 KV
    /// cache is then read and written as f16 (shaders/kv/f16_native.wgsl) instead of through
    /// packed u32 words.
    pub shader_f16: bool,
    lost: Arc<std::sync::Mutex<Option<String>>>,
}

impl Gpu {
    /// Open the best adapter: a discrete or integrated GPU if present, else a software one
    /// (lavapipe, SwiftShader). Natively `WGPU_BACKEND` / `WGPU_ADAPTER_NAME` are honoured.
    pub async fn new() -> Result<Gpu> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        if cfg!(target_family = "wasm") {
            desc.backends = wgpu::Backends::BROWSER_WEBGPU;
        }
        let instance = wgpu::Instance::new(desc);
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: None,
                ..Default::default()
            })
            .await
            .map_err(|_| GpuError::NoAdapter)?;
        Self::from_adapter(adapter).await
    }

    pub async fn from_adapter(adapter: wgpu::Adapter) -> Result<Gpu> {
        let info = adapter.get_info();
        // Browsers need `enable subgroups;` in the source, which naga (natively) does not take
        // yet: subgroups are used natively only.
        let subgroups = cfg!(not(target_family = "wasm"))
            && adapter.features().contains(wgpu::Features::SUBGROUP)
            && info.subgroup_min_size >= 8
            && std::env::var("XLINGO_SUBGROUPS").map_or(true, |v| v != "0");
        let shader_f16 = adapter.features().contains(wgpu::Features::SHADER_F16)
            && std::env::var("XLINGO_SHADER_F16").map_or(true, |v| v != "0");
        let mut features = wgpu::Features::empty();
        if shader_f16 {
            features |= wgpu::Features::SHADER_F16;
        }
        if subgroups {
            features |= wgpu::Features::SUBGROUP;
        }
        // Ask for everything the adapter allows: large models need big storage bindings.
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("xlingo"),
                required_features: features,
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::Device(e.to_string()))?;
        let lost = Arc::new(std::sync::Mutex::new(None));
        let lost_flag = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut slot) = lost_flag.lock() {
                *slot = Some(format!("{reason:?}: {message}"));
            }
        });
        // wgpu's default handler panics on an uncaptured error (out of memory, a failed
        // validation); a tool must report it instead. The device is then unusable like a lost one.
        let error_flag = lost.clone();
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            if let Ok(mut slot) = error_flag.lock() {
                slot.get_or_insert_with(|| format!("GPU error: {error}"));
            }
        }));
        let adapter = AdapterSummary {
            name: info.name.clone(),
            vendor: format!("{:#06x}", info.vendor),
            architecture: String::new(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info)
                .trim()
                .to_string(),
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_buffer_size: limits.max_buffer_size,
            max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
            max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
        };
        Ok(Gpu {
            device,
            queue,
            adapter,
            limits,
            device_type: info.device_type,
            subgroups,
            shader_f16,
            lost,
        })
    }

    /// Natively: block on [`Gpu::new`].
    #[cfg(not(target_family = "wasm"))]
    pub fn new_blocking() -> Result<Gpu> {
        pollster::block_on(Self::new())
    }

    /// Why the device was lost or became unusable (an uncaptured GPU error), if it did.
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|s| s.clone())
    }

    /// Largest buffer this engine may bind as one storage binding.
    pub fn max_binding(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    /// Copy `bytes` bytes of `buffer` (from `offset`) back to the host; an error if the device
    /// was lost or an uncaptured error (a failed validation) happened since it was created.
    pub async fn read(&self, buffer: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(buffer, offset, &staging, 0, bytes);
        self.queue.submit([encoder.finish()]);
        let slice = staging.slice(..);
        let (tx, rx) = futures_channel::oneshot::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        // Natively the callback runs inside poll; in the browser the event loop runs it.
        #[cfg(not(target_family = "wasm"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        match rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(self.lost_or(GpuError::Readback(e.to_string()))),
            Err(_) => return Err(self.lost_or(GpuError::Readback("mapping cancelled".into()))),
        }
        // A failed validation (say, a kernel that did not compile) leaves the device usable but
        // the results wrong: report it rather than return them.
        if let Some(reason) = self.lost() {
            return Err(GpuError::DeviceLost(reason));
        }
        let data = slice
            .get_mapped_range()
            .map_err(|e| GpuError::Readback(e.to_string()))?
            .to_vec();
        staging.unmap();
        Ok(data)
    }

    fn lost_or(&self, e: GpuError) -> GpuError {
        match self.lost() {
            Some(reason) => GpuError::DeviceLost(reason),
            None => e,
        }
    }
}
