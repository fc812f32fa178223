"""The seed topology search over the As-ViT space (docs/design.md section 7): REINFORCE
(:mod:`.policy`), the random and evolutionary baselines (:mod:`.baselines`), the objectives
(:mod:`.objective`) and the runner that resumes a search (:mod:`.runner`); the proxy cache
(:mod:`.cache`), the measuring scorer (:mod:`.scorer`), the rank rule (:mod:`.ranking`) and the resume
state (:mod:`.state`) serve the scaling rule (:mod:`asvit.scaling`) too. Import from the modules: the
package imports none of them, so a stage loads only what it runs."""
