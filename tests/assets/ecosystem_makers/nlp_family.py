"""Classic NLP libraries: spaCy ``Language.to_disk``, gensim ``SaveLoad.save`` and word2vec formats,
fastText ``save_model`` and NLTK models pickled the way NLTK's book shows."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

from ._common import Corpus

FOLDERS = ("spacy", "gensim", "fasttext", "nltk")

SENTENCES = [["the", "model", "file", "is", "safe"], ["scan", "the", "weights", "file"],
             ["bad", "weights", "load", "code"], ["good", "data", "good", "model"]] * 3


def _spacy(corpus: Corpus) -> None:
    import spacy
    from spacy.training import Example

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "LIB", "pattern": "torch"}, {"label": "LIB", "pattern": [{"LOWER": "keras"}]}])
    # A bag-of-words text classifier with a small hash table (the default 2**18 rows is 4 MB).
    textcat = nlp.add_pipe("textcat", config={"model": {"@architectures": "spacy.TextCatBOW.v3",
                                                        "exclusive_classes": True, "ngram_size": 1,
                                                        "no_output_layer": False, "length": 1024}})
    textcat.add_label("SAFE")
    textcat.add_label("UNSAFE")
    examples = [Example.from_dict(nlp.make_doc("the model is safe"), {"cats": {"SAFE": 1.0, "UNSAFE": 0.0}}),
                Example.from_dict(nlp.make_doc("bad code loads"), {"cats": {"SAFE": 0.0, "UNSAFE": 1.0}})]
    spacy.util.fix_random_seed(0)
    nlp.initialize(lambda: examples)
    rel = "spacy/pipeline"
    nlp.to_disk(str(corpus.dir(rel)))
    corpus.record_tree(rel, "spacy", "spacy.Language.to_disk()")
    rel = "spacy/doc_bin.spacy"
    from spacy.tokens import DocBin

    DocBin(docs=[nlp("torch and keras models")]).to_disk(str(corpus.path(rel)))
    corpus.record(rel, "spacy", "spacy.tokens.DocBin.to_disk()")


def _gensim(corpus: Corpus) -> None:
    from gensim.corpora import Dictionary
    from gensim.models import Doc2Vec, Word2Vec
    from gensim.models.doc2vec import TaggedDocument

    w2v = Word2Vec(SENTENCES, vector_size=8, window=2, min_count=1, epochs=2, seed=0, workers=1)
    rel = "gensim/word2vec.model"
    w2v.save(str(corpus.path(rel)))
    corpus.record(rel, "gensim", "gensim.models.Word2Vec.save()")
    rel = "gensim/vectors.kv"
    w2v.wv.save(str(corpus.path(rel)))
    corpus.record(rel, "gensim", "gensim.models.KeyedVectors.save()")
    for binary in (False, True):
        rel = f"gensim/vectors.word2vec.{'bin' if binary else 'txt'}"
        w2v.wv.save_word2vec_format(str(corpus.path(rel)), binary=binary)
        corpus.record(rel, "gensim", f"KeyedVectors.save_word2vec_format(binary={binary})")
    d2v = Doc2Vec([TaggedDocument(s, [i]) for i, s in enumerate(SENTENCES)], vector_size=4, min_count=1, epochs=2,
                  seed=0, workers=1)
    rel = "gensim/doc2vec.model"
    d2v.save(str(corpus.path(rel)))
    corpus.record(rel, "gensim", "gensim.models.Doc2Vec.save()")
    rel = "gensim/dictionary.dict"
    Dictionary(SENTENCES).save(str(corpus.path(rel)))
    corpus.record(rel, "gensim", "gensim.corpora.Dictionary.save()")


def _fasttext(corpus: Corpus, tmp: Path) -> None:
    import fasttext

    text = tmp / "train.txt"
    text.write_text("\n".join(" ".join(s) for s in SENTENCES) + "\n", encoding="utf-8")
    labelled = tmp / "labelled.txt"
    labelled.write_text("\n".join(f"__label__{'bad' if 'bad' in s else 'ok'} {' '.join(s)}" for s in SENTENCES) + "\n",
                        encoding="utf-8")
    model = fasttext.train_unsupervised(str(text), model="skipgram", dim=4, epoch=1, minCount=1, bucket=200,
                                        thread=1, verbose=0)
    rel = "fasttext/skipgram.bin"
    model.save_model(str(corpus.path(rel)))
    corpus.record(rel, "fasttext", "fasttext.FastText._FastText.save_model() (unsupervised)")
    clf = fasttext.train_supervised(str(labelled), dim=4, epoch=1, minCount=1, bucket=200, thread=1, seed=0,
                                    verbose=0)
    rel = "fasttext/classifier.bin"
    clf.save_model(str(corpus.path(rel)))
    corpus.record(rel, "fasttext", "fasttext.FastText._FastText.save_model() (supervised)")


def _nltk(corpus: Corpus) -> None:
    import nltk
    from nltk.tokenize.punkt import PunktTrainer

    tagged = [[("the", "DT"), ("model", "NN"), ("is", "VBZ"), ("safe", "JJ")],
              [("scan", "VB"), ("the", "DT"), ("file", "NN")]]
    unigram = nltk.UnigramTagger(tagged)
    bigram = nltk.BigramTagger(tagged, backoff=unigram)
    nb = nltk.NaiveBayesClassifier.train([({"has_bad": "bad" in s}, "bad" in s) for s in SENTENCES])
    trainer = PunktTrainer()
    trainer.train("The model is safe. Dr. Smith scans it. Mr. Jones loads weights.", finalize=True)
    for name, obj in (("bigram_tagger", bigram), ("naive_bayes", nb), ("punkt_parameters", trainer.get_params())):
        rel = f"nltk/{name}.pickle"
        with corpus.path(rel).open("wb") as fh:
            pickle.dump(obj, fh)
        corpus.record(rel, "nltk", f"pickle.dump({type(obj).__name__})")


def make(corpus: Corpus) -> None:
    import shutil
    import tempfile

    warnings.filterwarnings("ignore")
    _spacy(corpus)
    _gensim(corpus)
    tmp = Path(tempfile.mkdtemp(prefix="mlvet-eco-"))
    try:
        _fasttext(corpus, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _nltk(corpus)
