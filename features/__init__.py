"""Match features and semantic-id features from item-embedding files, and the ranking models and
experiment that measure them. Reads embedding files and interaction logs; never imports training code.

history / events     leak-free histories and counts ("strictly before ts")
match                MatchFeatures: a frozen, shardable TorchRec module of similarity features
semantic / sparse    semantic-id codes and other single-id sparse features
context / pipeline   dense context features; one pipeline for training and serving per variant
ranking / train      DLRM-DCN model and its training loop
experiment           run_ranking: variants x seeds, AUC / GAUC / logloss with paired intervals
scorer / sharding    a trained model as a function for the LT simulator; DMP sharding
"""
