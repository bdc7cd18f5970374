#include "text/jinja/template.h"

#include "core/error.h"
#include "text/jinja/interpreter.h"
#include "text/jinja/parser.h"

namespace edgerun::jinja {

Template Template::parse(const std::string& source, const std::string& name) {
  Template t;
  t.program_ = parse_template(source, name);
  return t;
}

const std::string& Template::name() const { return program_->name; }

std::string Template::render(const Value& context, const RenderOptions& options) const {
  if (!context.is_dict()) fail(program_->name, "the render context must be a dict, got " + type_name(context));
  Interpreter interp(*program_, options);
  return interp.render(context.dict_data());
}

}  // namespace edgerun::jinja
