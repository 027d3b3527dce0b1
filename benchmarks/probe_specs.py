import json
from perfpredict.zoo import ZooSpec, SearchSpace
R = dict(resnet_depth=(8, 14), resnet_width=(8, 16))
def random_probe(ds, fams, seed, epochs=(1, 16), **space):
    return ZooSpec(name=f"probe-{ds}", datasets=(ds,), families=fams, runs_per_group=16, epochs=epochs[1], seed=seed,
                   ensemble_size=4, space=SearchSpace(epochs_range=epochs, **{**R, **space}))
def recipe_probe(ds, fams, epochs, seed):
    good = SearchSpace(activations=("relu",), inits=("default",), optimizers=("adam", "nesterov"),
                       lr_ranges={"adam": (5e-4, 3e-3), "nesterov": (0.02, 0.1)}, schedules=("cosine",),
                       weight_decay=(5e-4,), dropout=(0.0,), batch_size=(128,), full_data=1.0,
                       label_noise=(0.0,), augment=("crop_flip",), mlp_depth=(2,), mlp_width=(512, 1024),
                       mlp_norm=("none",), cnn_depth=(4,), cnn_channels=(32,), cnn_kernel=(3,),
                       cnn_downsample=("pool",), cnn_norm=("batch",), cnn_head=("fc",), cnn_fc_layers=(1,),
                       cnn_fc_width=(256,), lenet_width=(2,), lenet_pool=("max",), resnet_depth=(8,),
                       resnet_width=(16,), resnet_shortcut=("A",))
    return ZooSpec(name=f"probe-{ds}-recipes", datasets=(ds,), families=fams, runs_per_group=4, epochs=epochs,
                   seed=seed, ensemble_size=4, space=good)
specs = [random_probe("mnist", ("mlp", "cnn", "lenet"), 21), random_probe("fashion_mnist", ("mlp", "cnn", "lenet"), 22),
         random_probe("cifar10", ("cnn", "lenet", "resnet"), 23, epochs=(1, 10), resnet_depth=(8,)),
         recipe_probe("mnist", ("mlp", "cnn", "lenet"), 12, 31), recipe_probe("fashion_mnist", ("mlp", "cnn", "lenet"), 12, 32),
         recipe_probe("cifar10", ("cnn", "resnet"), 12, 33)]
for s in specs:
    json.dump(s.to_dict(), open(f"data/specs/{s.name}.json", "w"), indent=1)
    print(s.name)
