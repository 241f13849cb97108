"""A custom distributed training loop (`strategy.run` over a Keras 3 model and optimizer,
`experimental_distribute_dataset`, DATA sharding) under `MultiWorkerMirroredStrategy`, or the
same loop on one device (run as subprocesses by test_multiworker.py).

    python custom_loop_script.py OUTPUT_JSON [INDEX P0,P1]

This is the path multi-worker training in kerasimb would take while Keras 3's `fit` cannot run
under several workers (keras-team/keras#20585).
"""
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
out, worker, ports = sys.argv[1], (int(sys.argv[2]) if len(sys.argv) > 2 else None), (sys.argv[3] if len(sys.argv) > 3 else None)
import tensorflow as tf
if worker is not None:
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports.split(",")]},
                                          "task": {"type": "worker", "index": worker}})
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
else:
    strategy = tf.distribute.get_strategy()
import keras, numpy as np
rng = np.random.default_rng(0)
x = rng.random((256, 8, 8, 1)).astype("float32"); y = (x.mean(axis=(1, 2, 3)) > 0.5).astype("int32")
GB = 32
keras.utils.set_random_seed(0)
with strategy.scope():
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    opt = keras.optimizers.Adam(1e-2)
    opt.build(model.trainable_variables)
ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(GB)
opts = tf.data.Options(); opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
ds = ds.with_options(opts)
dds = strategy.experimental_distribute_dataset(ds)
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")
@tf.function
def step(xb, yb):
    def fn(xb, yb):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(loss_fn(yb, model(xb, training=True))) / GB
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    return strategy.reduce("SUM", strategy.run(fn, args=(xb, yb)), axis=None)
losses = []
for epoch in range(3):
    total = 0.0
    for xb, yb in dds:
        total += float(step(xb, yb))
    losses.append(total)
json.dump({"losses": losses, "weights": [w.tolist() for w in model.get_weights()],
           "replicas": strategy.num_replicas_in_sync}, open(out, "w"))
print("done", losses)
