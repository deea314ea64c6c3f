//! `waybill get`, `describe`, `events` and `tree`: the state a run left, read-only.

use anyhow::Context;
use waybill_local::{GetFormat, Inspection};

use crate::cli::{EventsArgs, GetArgs, GetOutput, ObjectArgs, object_ref, parse_for};
use crate::term::out;

/// How often `get --watch` reads the state again.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

pub async fn get(args: GetArgs) -> anyhow::Result<u8> {
    let paths = crate::paths(&args.platform)?;
    let name = match &args.name {
        Some(n) => {
            Some(object_ref(args.kind, n, args.namespace.as_deref().unwrap_or("default")).map_err(anyhow::Error::msg)?)
        }
        None => None,
    };
    let format = match args.output {
        GetOutput::Table => GetFormat::Table,
        GetOutput::Wide => GetFormat::Wide,
        GetOutput::Json => GetFormat::Json,
        GetOutput::Yaml => GetFormat::Yaml,
        GetOutput::Name => GetFormat::Name,
    };
    let render = || -> anyhow::Result<String> {
        let mut state = Inspection::read(&paths)?;
        if let (Some(ns), None) = (&args.namespace, &name) {
            state.objects.retain(|(o, _)| !o.kind().namespaced() || o.meta().ns() == ns);
        }
        Ok(state.get(args.kind, name.as_ref(), format)?)
    };
    let mut last = render()?;
    out!("{last}");
    if !args.watch {
        return Ok(0);
    }
    let stop = crate::shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(0),
            _ = tokio::time::sleep(WATCH_EVERY) => {}
        }
        // A run may be writing; a read that fails now is tried again next second.
        let Ok(now) = render() else { continue };
        if now != last {
            out!("\n{now}");
            last = now;
        }
    }
}

pub fn describe(args: ObjectArgs) -> anyhow::Result<u8> {
    let (state, r) = read_object(&args)?;
    out!("{}", state.describe(&r)?);
    Ok(0)
}

pub fn tree(args: ObjectArgs) -> anyhow::Result<u8> {
    let (state, r) = read_object(&args)?;
    out!("{}", state.tree(&r)?);
    Ok(0)
}

pub fn events(args: EventsArgs) -> anyhow::Result<u8> {
    let paths = crate::paths(&args.platform)?;
    let about = args.for_object.as_deref().map(parse_for).transpose().map_err(anyhow::Error::msg)?;
    let state = Inspection::read(&paths)?;
    if let Some(r) = &about {
        state.find(r).context("failed to show its events")?;
    }
    out!("{}", state.events_table(about.as_ref()));
    Ok(0)
}

fn read_object(args: &ObjectArgs) -> anyhow::Result<(Inspection, waybill_core::ObjectRef)> {
    let r = object_ref(args.kind, &args.name, &args.namespace).map_err(anyhow::Error::msg)?;
    let paths = crate::paths(&args.platform)?;
    Ok((Inspection::read(&paths)?, r))
}
