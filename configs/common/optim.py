from detectron2 import model_zoo

# detectron2's SGD (momentum 0.9, no weight decay on norm layers); params.model is set by train_net.
optimizer = model_zoo.get_config("common/optim.py").SGD
optimizer.lr = 0.02
optimizer.weight_decay = 1e-4
