"""One epoch over 5,000 MNIST images with the numnet source tree given as the first argument: prints the
fastest of REPEATS epochs in seconds, for A/B runs of two checkouts in alternating fresh processes.

    python benchmarks/ab_epoch.py TREE "[784,30,10]" sigmoid 10 9     # TREE SIZES ACTIVATION BATCH REPEATS
"""
import json
import sys
import time


def main(argv):
    tree, sizes, activation, batch, repeats = argv
    sys.path.insert(0, f"{tree}/src")
    from numnet import Network
    from numnet.data.mnist import load_mnist
    from numnet.train.loop import fit

    (X, y), _, _ = load_mnist()
    X, y = X[:5000], y[:5000]
    net = Network.from_sizes(json.loads(sizes), activation=activation, output="softmax", cost="log_likelihood",
                             seed=1)
    times = []
    for r in range(int(repeats)):
        start = time.perf_counter()
        fit(net, X, y, epochs=1, batch_size=int(batch), seed=r, verbose=False)
        times.append(time.perf_counter() - start)
    print(min(times))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
