//! Panics inside a worker.

use std::any::Any;

use crate::ipc::status::StatusPage;

/// The text of a panic payload (`panic!`'s message).
pub(crate) fn message_of(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Replaces the panic hook: a panic on the thread running tasks is
/// reported to the client (and recorded on the status page, which matters
/// if panics abort), not printed; panics on other threads the task started
/// are printed as usual.
pub(crate) fn install_hook(status: &'static StatusPage) {
    let task_thread = std::thread::current().id();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() == task_thread {
            status.record_panic(&message_of(info.payload()));
        } else {
            previous(info);
        }
    }));
}
