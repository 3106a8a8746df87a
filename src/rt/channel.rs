//! Cross-core channels. glommio's shared channels are single-producer and
//! single-consumer, created anywhere and connected on the executor that uses
//! each half.

use glommio::channels::shared_channel::{
    self, ConnectedReceiver, ConnectedSender, SharedReceiver, SharedSender,
};

/// The unconnected sending half, to be moved to its core.
pub struct CoreSender<T: Send + 'static>(SharedSender<T>);
/// The unconnected receiving half, to be moved to its core.
pub struct CoreReceiver<T: Send + 'static>(SharedReceiver<T>);

pub fn cross_core<T: Send + 'static>(capacity: usize) -> (CoreSender<T>, CoreReceiver<T>) {
    let (sender, receiver) = shared_channel::new_bounded(capacity);
    (CoreSender(sender), CoreReceiver(receiver))
}

impl<T: Send + 'static> CoreSender<T> {
    pub async fn connect(self) -> ConnectedCoreSender<T> {
        ConnectedCoreSender(self.0.connect().await)
    }
}

impl<T: Send + 'static> CoreReceiver<T> {
    pub async fn connect(self) -> ConnectedCoreReceiver<T> {
        ConnectedCoreReceiver(self.0.connect().await)
    }
}

pub struct ConnectedCoreSender<T: Send + 'static>(ConnectedSender<T>);
pub struct ConnectedCoreReceiver<T: Send + 'static>(ConnectedReceiver<T>);

impl<T: Send + 'static> ConnectedCoreSender<T> {
    /// Sends, waiting for room; gives the item back if the receiver is gone.
    pub async fn send(&self, item: T) -> Result<(), T> {
        self.0.send(item).await.map_err(give_back)
    }
}

fn give_back<T>(error: glommio::GlommioError<T>) -> T {
    match error {
        glommio::GlommioError::Closed(glommio::ResourceType::Channel(item)) => item,
        glommio::GlommioError::WouldBlock(glommio::ResourceType::Channel(item)) => item,
        other => unreachable!("a channel send fails only as closed or full: {other:?}"),
    }
}

impl<T: Send + 'static> ConnectedCoreReceiver<T> {
    /// The next item, or `None` once every sender is gone.
    pub async fn recv(&self) -> Option<T> {
        self.0.recv().await
    }
}

/// A bounded queue between tasks of one core.
pub fn local_queue<T>(capacity: usize) -> (LocalQueueSender<T>, LocalQueueReceiver<T>) {
    let (sender, receiver) = glommio::channels::local_channel::new_bounded(capacity);
    (
        LocalQueueSender(std::rc::Rc::new(sender)),
        LocalQueueReceiver(receiver),
    )
}

pub struct LocalQueueSender<T>(std::rc::Rc<glommio::channels::local_channel::LocalSender<T>>);
pub struct LocalQueueReceiver<T>(glommio::channels::local_channel::LocalReceiver<T>);

impl<T> Clone for LocalQueueSender<T> {
    fn clone(&self) -> Self {
        LocalQueueSender(self.0.clone())
    }
}

impl<T> LocalQueueSender<T> {
    /// Sends, waiting for room; gives the item back if the receiver is gone.
    pub async fn send(&self, item: T) -> Result<(), T> {
        self.0.send(item).await.map_err(give_back)
    }
}

impl<T> LocalQueueReceiver<T> {
    pub async fn recv(&self) -> Option<T> {
        self.0.recv().await
    }
}
